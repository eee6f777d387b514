"""Segments: who is a first-time, repeat or dormant buyer, their RFM scores, what they
bought and how they engaged, evaluated live as SQL over customers, orders and tracking
events. Flows use them as filters and branch conditions."""
