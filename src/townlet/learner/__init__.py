"""Deep Q-learning over the vectorised world."""
