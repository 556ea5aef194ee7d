"""Modules shared by the functions of `function_app.py`: one job each."""

__version__ = "1.0.0"
