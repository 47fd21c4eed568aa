"""Customer accounts and their contacts (some of whom sign in to the portal)."""
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from revops.kernel.fields import CurrencyField


class Customer(models.Model):
    class Size(models.TextChoices):
        SMB = "smb", "SMB"
        MID_MARKET = "mid_market", "Mid-market"
        ENTERPRISE = "enterprise", "Enterprise"

    class Channel(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"
        PARTNER = "partner", "Partner"
        PAID_SEARCH = "paid_search", "Paid search"
        EVENTS = "events", "Events"
        REFERRAL = "referral", "Referral"
        SELF_SERVE = "self_serve", "Self-serve"

    class Region(models.TextChoices):
        NA = "na", "North America"
        EMEA = "emea", "EMEA"
        APAC = "apac", "APAC"
        LATAM = "latam", "LATAM"

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    currency = CurrencyField(help_text="ISO 4217; quotes and invoices for this customer use it.")
    billing_email = models.EmailField(blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2, e.g. US, DE, JP")
    tax_exempt = models.BooleanField(default=False)
    tax_region = models.CharField(max_length=40, blank=True, help_text="State or province for regional tax rates.")
    tax_id = models.CharField(max_length=50, blank=True)
    industry = models.CharField(max_length=60, blank=True, db_index=True)
    size = models.CharField(max_length=12, choices=Size.choices, blank=True, db_index=True)
    region = models.CharField(max_length=6, choices=Region.choices, blank=True, db_index=True)
    acquisition_channel = models.CharField(max_length=12, choices=Channel.choices, blank=True, db_index=True)
    address = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_customers"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), name="customer_name_ci_idx")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Role(models.TextChoices):
        BILLING = "billing", "Billing"
        DECISION_MAKER = "decision_maker", "Decision maker"
        TECHNICAL = "technical", "Technical"
        CHAMPION = "champion", "Champion"
        OTHER = "other", "Other"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OTHER)
    portal_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="portal_contact",
        help_text="Set to let this contact sign in to the customer portal (sees only this customer).",
    )

    class Meta:
        ordering = ["customer_id", "name"]
        constraints = [models.UniqueConstraint(fields=["customer", "email"], name="contact_email_per_customer")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class CustomerComment(models.Model):
    """A note any staff team leaves on a customer's shared timeline (Customer 360); @-mentions notify the
    colleague. Staff only: the portal never shows comments."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="customer_mentions")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"], name="customer_comment_time_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.body[:40]}"
