"""esign package."""
