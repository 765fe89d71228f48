"""Setting ``transformers`` config values past field types that refuse valid values."""

from __future__ import annotations

from typing import Any


def accepts(config: Any, key: str, value: Any) -> bool:
    """Whether ``config``'s class validates ``value`` for ``key`` (TimeSformer's config types
    ``drop_path_rate`` as int, though its layers take a float rate)."""
    try:
        type(config)(**{key: value})
    except Exception:  # noqa: BLE001 - huggingface_hub's StrictDataclassFieldValidationError
        return False
    return True


def set_config(config: Any, key: str, value: Any) -> None:
    """``config.key = value``, past a field type that refuses it (see :func:`accepts`)."""
    if accepts(config, key, value):
        setattr(config, key, value)
    else:
        object.__setattr__(config, key, value)
