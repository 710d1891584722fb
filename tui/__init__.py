"""gwlbtop: the terminal UI for gwlbd appliances and fleets (see docs/tui.md)."""
