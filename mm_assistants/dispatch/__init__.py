"""mm_assistants.dispatch."""
