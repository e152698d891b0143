"""mm-assistants: MultiMail email tools, a safe dispatcher and run drivers for OpenAI."""

from mm_assistants._version import __version__

__all__ = ["__version__"]
