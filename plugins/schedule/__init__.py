"""The schedule in the channel: #nextmeeting, #schedule, and #skip for chairs."""
