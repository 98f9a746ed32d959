"""Dead letters: rejected records with their original bytes, reason and origin, and the breaker."""
