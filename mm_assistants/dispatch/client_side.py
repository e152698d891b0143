"""Deprecated: moved to `mm_assistants.dispatch.multistep_tools`
(issue 13: one naming convention, see CONTRIBUTING.md). Importing a name from here
still works and warns."""

from mm_assistants._moved import moved_module

__getattr__ = moved_module(
    __name__,
    "mm_assistants.dispatch.multistep_tools",
    {"wait_sync": "wait_for_email_sync", "wait_async": "wait_for_email_async"},
)
