"""The deploy timeline (filled in step 3)."""
