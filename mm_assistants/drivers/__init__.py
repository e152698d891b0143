"""mm_assistants.drivers."""
