"""mm_assistants.cli."""
