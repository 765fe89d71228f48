"""Using a trained model: export with verified parity, prediction over long videos and many
videos, and pictures of a run.

- ``metadata``: what an exported model needs written beside it (labels, sampling,
  preprocessing, versions, source checkpoint hash) and how it is stored per format;
- ``export``: ``zelda export`` (ONNX, TorchScript, torch.export) and its self-verification;
- ``windows``: sliding windows over a video and the smoothed timeline of their predictions;
- ``predict``: ``zelda predict`` over files, folders and lists through a DataLoader, from a
  checkpoint or an exported ONNX file;
- ``plot``: ``zelda plot`` (loss, learning rate, validation metrics, confusion matrix).

Nothing here is imported by ``zelda --help``; torch, onnx and matplotlib load when a command runs.
"""
