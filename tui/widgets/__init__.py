"""gwlbtop's widgets."""
