"""Data only: message classes, codecs and wire formats. Imports nothing from the rest of Troupe."""
