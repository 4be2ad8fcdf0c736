"""Algorithms, the SM2 binding, keys and key stores, certificates and certificate authorities.

The lowest layer of esign: it imports nothing else of the project.
"""
