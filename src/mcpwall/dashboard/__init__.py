"""The web dashboard on the admin port."""
