from django.db import models


class Store(models.Model):
    """One shop. Every domain row belongs to exactly one store."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    time_zone = models.CharField(max_length=64, default="UTC")
    website_url = models.URLField(default="https://shop.example.com")
    from_email = models.EmailField(default="hello@shop.example.com")
    reply_to = models.EmailField(blank=True, default="")
    physical_address = models.CharField(
        max_length=300,
        default="1 Market Street, Springfield, USA",
        help_text="Shown in every marketing email's footer (CAN-SPAM).",
    )
    brand_color = models.CharField(max_length=7, default="#1f6feb")
    logo_url = models.URLField(blank=True, default="")
    api_key_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
