"""Votes: OpenStack's #startvote, hcoop's #motion and meetingology's bare +1/-1/+0 ballots."""
