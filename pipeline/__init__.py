"""xmargin: FICC-CME customer cross-margining and Rule 15c3-3 reserve batch."""

__version__ = "0.1.0"
