"""Delivery that loses nothing: the outbox and one sink per kind of destination."""
