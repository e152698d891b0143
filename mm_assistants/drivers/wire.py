"""Deprecated: moved to `mm_assistants.drivers.assistants_api`
(issue 13: one naming convention, see CONTRIBUTING.md). Importing a name from here
still works and warns."""

from mm_assistants._moved import moved_module

__getattr__ = moved_module(
    __name__,
    "mm_assistants.drivers.assistants_api",
    {"AssistantsWire": "AssistantsAPI", "AsyncAssistantsWire": "AsyncAssistantsAPI"},
)
