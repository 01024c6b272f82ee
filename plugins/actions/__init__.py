"""Action items that outlive their meeting: ids, owners by identity, status and history."""
