"""gwlbtop's screens: one per view, plus the modal dialogs."""
