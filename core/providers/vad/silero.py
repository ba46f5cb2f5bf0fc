"""Silero VAD (v6 ONNX) through onnxruntime, without torch.

The model takes 64 samples of context + a 512-sample window and LSTM state (h, c); it returns the speech
probability and the new state. One InferenceSession (thread-safe `run`) is shared by every connection;
each stream keeps its own state and context.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from .base import WINDOW_SAMPLES, VADError

__all__ = ["SileroVAD", "SileroStream", "default_model_path"]

_CONTEXT = 64


def default_model_path() -> Path:
    """The Silero v6 model that ships inside faster-whisper (MIT)."""
    try:
        import faster_whisper
    except ImportError as exc:
        raise VADError("faster-whisper is not installed, so no Silero model is bundled; "
                       "set voice.vad.model_path to a silero_vad.onnx file or use voice.vad.provider: energy") from exc
    return Path(os.path.dirname(faster_whisper.__file__)) / "assets" / "silero_vad_v6.onnx"


class SileroStream:
    def __init__(self, session: Any, names: tuple[str, str, str]) -> None:   # an onnxruntime.InferenceSession
        self._session = session
        self._in, self._h_name, self._c_name = names
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._ctx = np.zeros(_CONTEXT, np.float32)

    def probability(self, window: np.ndarray) -> float:
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(f"Silero needs {WINDOW_SAMPLES}-sample windows, got {window.shape}")
        x = np.concatenate([self._ctx, window.astype(np.float32, copy=False)])[None, :]
        out, self._h, self._c = self._session.run(None, {self._in: x, self._h_name: self._h, self._c_name: self._c})
        self._ctx = x[0, -_CONTEXT:].copy()
        return float(np.asarray(out).reshape(-1)[0])


class SileroVAD:
    """Loads the model on first use (or `load()`); one instance per process."""
    name = "silero"

    def __init__(self, model_path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(model_path) if model_path else None
        self._session: Any = None                  # onnxruntime.InferenceSession (the library is untyped)
        self._names: tuple[str, str, str] = ("input", "h", "c")
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            path = self._path or default_model_path()
            if not path.is_file():
                raise VADError(f"Silero model not found at {path}; set voice.vad.model_path or use provider energy")
            try:
                import onnxruntime as ort
                opts = ort.SessionOptions()
                # One thread: windows are tiny and many connections run in parallel threads.
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                opts.log_severity_level = 3
                session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise VADError(f"cannot load Silero model {path}: {type(exc).__name__}") from exc
            inputs = {i.name: i.shape for i in session.get_inputs()}
            if not {"input", "h", "c"} <= set(inputs):
                raise VADError(f"{path}: unexpected Silero inputs {sorted(inputs)}; expected input, h, c (v5/v6 ONNX "
                               "from faster-whisper)")
            logger.info("Silero VAD loaded from {}", path)
            self._session = session

    def new_stream(self) -> SileroStream:
        self.load()
        assert self._session is not None
        return SileroStream(self._session, self._names)
