"""zelda bundled plugin: datasets (registered through the 'zelda' entry-point group).

``video_list``: an annotation file of "relative/path.mp4 label" lines (MMAction2's format);
``video_folder``: root/class_name/*.mp4; ``video_csv``: a CSV/TSV table with a header. Lazy registration: nothing heavy is imported here.
"""

from __future__ import annotations

from zelda_core.api import hookimpl


@hookimpl
def register_datasets(register) -> None:
    register("video_list", f"{__name__}.video_list:VideoList",
             help="annotation list: 'relative/path.mp4 label' per line")
    register("video_csv", f"{__name__}.video_csv:VideoCsv",
             help="CSV/TSV table with a header: path (or a path template) and label columns, "
                  "optional start/end seconds")
    register("video_folder", f"{__name__}.video_folder:VideoFolder",
             help="root/class_name/*.mp4, classes sorted")
