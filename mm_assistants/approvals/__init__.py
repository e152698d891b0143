"""mm_assistants.approvals."""
