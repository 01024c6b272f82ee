"""The Matrix network: a matrix-nio client (adapter.py) around pure translation rules."""

from .adapter import MatrixAdapter, MatrixConfig, MatrixError

__all__ = ["MatrixAdapter", "MatrixConfig", "MatrixError"]
