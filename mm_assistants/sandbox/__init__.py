"""mm_assistants.sandbox."""
