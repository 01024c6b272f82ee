"""MeetBot's command set: start and end meetings, topics, items, chairs, undo, save, lurk."""
