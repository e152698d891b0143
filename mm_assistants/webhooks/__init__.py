"""mm_assistants.webhooks."""
