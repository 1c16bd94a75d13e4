"""HubSpot's standard contact properties, as data.

Names, labels, types, field types, groups, descriptions and enumeration options follow what
``GET /crm/v3/properties/contacts`` returns for a new portal (the notes list the ones the app maps; the
options of ``lifecyclestage`` and ``hs_lead_status`` are HubSpot's defaults). Display orders and the
fixed creation dates are representative, not a copy of any one portal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# HubSpot-defined properties all carry an old creation date; one fixed value keeps answers stable.
STANDARD_CREATED_AT = "2019-08-06T02:41:08.029Z"
STANDARD_UPDATED_AT = "2024-05-14T13:27:31.662Z"

# Valid (type, fieldType) pairs for a property created through the API (properties API guide).
FIELD_TYPES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "html", "file", "phonenumber"),
    "number": ("number", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
    "bool": ("booleancheckbox",),
    "phone_number": ("phonenumber", "text"),
}


@dataclass(frozen=True)
class Prop:
    """A standard property in short form; :func:`definition` expands it to the API's shape."""

    name: str
    label: str
    type: str
    field_type: str
    group: str
    description: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    read_only: bool = False
    calculated: bool = False
    hidden: bool = False
    form_field: bool = False
    external_options: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_LIFECYCLE = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
_LEAD_STATUS = (
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)
_EMPLOYEES = tuple((v, v) for v in ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"))
_LANGUAGES = (
    ("en", "English"),
    ("de", "German"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("nl", "Dutch"),
    ("pt-br", "Portuguese - Brazil"),
)
_LEGAL_BASIS = tuple(
    (v, v)
    for v in (
        "Legitimate interest – prospect/lead",
        "Legitimate interest – existing customer",
        "Legitimate interest - other",
        "Performance of a contract",
        "Freely given consent from contact",
        "Not applicable",
    )
)
_SOURCES = (
    ("ORGANIC_SEARCH", "Organic Search"),
    ("PAID_SEARCH", "Paid Search"),
    ("EMAIL_MARKETING", "Email Marketing"),
    ("SOCIAL_MEDIA", "Organic Social"),
    ("REFERRALS", "Referrals"),
    ("OTHER_CAMPAIGNS", "Other Campaigns"),
    ("DIRECT_TRAFFIC", "Direct Traffic"),
    ("OFFLINE", "Offline Sources"),
    ("PAID_SOCIAL", "Paid Social"),
)
_TRUE_FALSE = (("true", "True"), ("false", "False"))

_CI = "contactinformation"
STANDARD: tuple[Prop, ...] = (
    Prop("email", "Email", "string", "text", _CI, "A contact's email address", form_field=True),
    Prop("firstname", "First Name", "string", "text", _CI, "A contact's first name", form_field=True),
    Prop("lastname", "Last Name", "string", "text", _CI, "A contact's last name", form_field=True),
    Prop("salutation", "Salutation", "string", "text", _CI, "The title used to address a contact",
         form_field=True),
    Prop("company", "Company Name", "string", "text", _CI,
         "Name of the contact's company. This can be set independently from the name property on the "
         "contact's associated company.", form_field=True),
    Prop("jobtitle", "Job Title", "string", "text", _CI, "A contact's job title", form_field=True),
    Prop("phone", "Phone Number", "string", "phonenumber", _CI, "A contact's primary phone number",
         form_field=True),
    Prop("mobilephone", "Mobile Phone Number", "string", "phonenumber", _CI,
         "A contact's mobile phone number", form_field=True),
    Prop("fax", "Fax Number", "string", "text", _CI, "A contact's primary fax number", form_field=True),
    Prop("website", "Website URL", "string", "text", _CI, "Associated company website.", form_field=True),
    Prop("address", "Street Address", "string", "text", _CI,
         "Contact's street address, including apartment or unit number.", form_field=True),
    Prop("city", "City", "string", "text", _CI, "A contact's city of residence", form_field=True),
    Prop("state", "State/Region", "string", "text", _CI,
         "The contact's state of residence. This might be set via import, form, or integration.",
         form_field=True),
    Prop("zip", "Postal Code", "string", "text", _CI,
         "Contact's zip code. This might be set via import, form, or integration.", form_field=True),
    Prop("country", "Country/Region", "string", "text", _CI,
         "The contact's country/region of residence. This might be set via import, form, or integration.",
         form_field=True),
    Prop("industry", "Industry", "string", "text", _CI, "The Industry a contact is in", form_field=True),
    Prop("numemployees", "Number of Employees", "enumeration", "select", _CI,
         "The number of company employees", options=_EMPLOYEES, form_field=True),
    Prop("annualrevenue", "Annual Revenue", "string", "text", _CI, "Annual company revenue",
         form_field=True),
    Prop("message", "Message", "string", "textarea", _CI,
         "A default property to be used for any message or comments a contact may want to leave on a form.",
         form_field=True),
    Prop("date_of_birth", "Date of birth", "string", "text", _CI, "The contact's date of birth",
         form_field=True),
    Prop("work_email", "Work email", "string", "text", _CI, "A contact's work email. This property is "
         "required for the Facebook Ads Integration.", form_field=True),
    Prop("job_function", "Job function", "string", "text", _CI, "Contact's job function",
         form_field=True),
    Prop("degree", "Degree", "string", "text", "education", "Contact's degree", form_field=True),
    Prop("school", "School", "string", "text", "education", "Contact's school", form_field=True),
    Prop("field_of_study", "Field of study", "string", "text", "education",
         "Contact's field of study", form_field=True),
    Prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", _CI,
         "The qualification of contacts to sales readiness. It can be set through imports, forms, "
         "workflows, and manually on a per contact basis.", options=_LIFECYCLE, form_field=True),
    Prop("hs_lead_status", "Lead Status", "enumeration", "radio", "sales_properties",
         "The contact's sales, prospecting or outreach status", options=_LEAD_STATUS, form_field=True),
    Prop("hubspot_owner_id", "Contact owner", "enumeration", "select", "sales_properties",
         "The owner of a contact. This can be any HubSpot user or Salesforce integration user, and can be "
         "set manually or via Workflows.", external_options=True),
    Prop("closedate", "Close Date", "datetime", "date", "sales_properties",
         "Date the contact became a customer. Set automatically when a deal or opportunity is marked as "
         "closed-won. It can also be set manually or programmatically."),
    Prop("hs_language", "Preferred language", "enumeration", "select", _CI,
         "Set your contact's preferred language for communications. This property can be changed from an "
         "import, form, or integration.", options=_LANGUAGES, form_field=True),
    Prop("hs_legal_basis", "Legal basis for processing contact's data", "enumeration", "checkbox", _CI,
         "Legal basis for processing contact's data; 'Not applicable' will exempt the contact from GDPR "
         "protections", options=_LEGAL_BASIS),
    Prop("twitterhandle", "Twitter Username", "string", "text", "socialmediainformation",
         "The contact's Twitter handle.", form_field=True),
    Prop("linkedinbio", "LinkedIn Bio", "string", "textarea", "socialmediainformation",
         "The contact's LinkedIn bio."),
    Prop("hs_whatsapp_phone_number", "WhatsApp Phone Number", "string", "phonenumber", _CI,
         "The phone number associated with the contact's WhatsApp account."),
    # Maintained by HubSpot: read-only values.
    Prop("createdate", "Create Date", "datetime", "date", _CI,
         "The date that a contact entered the system", read_only=True),
    Prop("lastmodifieddate", "Last Modified Date", "datetime", "date", _CI,
         "Most recent timestamp of any property update for a contact. This includes HubSpot internal "
         "properties, which can be visible or hidden. This property is updated automatically.",
         read_only=True, hidden=True),
    Prop("hs_object_id", "Record ID", "number", "number", _CI,
         "The unique ID for this record. This value is set automatically by HubSpot.", read_only=True),
    Prop("hs_email_domain", "Email Domain", "string", "text", "emailinformation",
         "A contact's email address domain", read_only=True, calculated=True),
    Prop("hs_additional_emails", "Additional email addresses", "enumeration", "checkbox", _CI,
         "A set of additional email addresses for a contact", read_only=True),
    Prop("hs_merged_object_ids", "Merged Contact IDs", "enumeration", "checkbox", _CI,
         "The list of Contact record IDs that have been merged into this Contact. This value is set "
         "automatically by HubSpot.", read_only=True),
    Prop("hs_email_optout", "Unsubscribed from all email", "enumeration", "booleancheckbox",
         "emailinformation", "Indicates that the current email address has opted out of all email.",
         options=_TRUE_FALSE, read_only=True),
    Prop("hs_analytics_source", "Original Source", "enumeration", "select", "analyticsinformation",
         "First known source the contact used to find your website. Set automatically, but may be updated "
         "manually.", options=_SOURCES, read_only=True),
    Prop("notes_last_updated", "Last Activity Date", "datetime", "date", "contact_activity",
         "The last time a note, call, email, meeting, or task was logged for a contact. This is set "
         "automatically by HubSpot based on user actions in the contact record.", read_only=True),
    Prop("num_associated_deals", "Associated Deals", "number", "number", "deal_information",
         "Count of deals associated with this contact. Set automatically by HubSpot.", read_only=True,
         calculated=True),
    Prop("recent_deal_amount", "Recent Deal Amount", "number", "number", "deal_information",
         "Amount of last closed won deal associated with a contact. Set automatically by HubSpot.",
         read_only=True, calculated=True),
    Prop("total_revenue", "Total Revenue", "number", "number", "deal_information",
         "The sum of all closed-won deal revenue associated with the contact. Set automatically by "
         "HubSpot.", read_only=True, calculated=True),
)  # fmt: skip


def options_payload(options: tuple[tuple[str, str], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enumeration options in the API's shape, numbered in order."""
    out: list[dict[str, Any]] = []
    for i, opt in enumerate(options):
        if isinstance(opt, dict):
            out.append(
                {
                    "label": str(opt["label"]),
                    "value": str(opt["value"]),
                    "displayOrder": int(opt.get("displayOrder", i)),
                    "hidden": bool(opt.get("hidden", False)),
                    **({"description": str(opt["description"])} if opt.get("description") else {}),
                }
            )
        else:
            value, label = opt
            out.append({"label": label, "value": value, "displayOrder": i, "hidden": False})
    return out


def definition(prop: Prop, display_order: int) -> dict[str, Any]:
    """The full ModelProperty body of a HubSpot-defined property."""
    return {
        "updatedAt": STANDARD_UPDATED_AT,
        "createdAt": STANDARD_CREATED_AT,
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group,
        "options": options_payload(prop.options),
        "displayOrder": -1 if prop.read_only or prop.hidden else display_order,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hasUniqueValue": False,
        "hidden": prop.hidden,
        "hubspotDefined": True,
        "showCurrencySymbol": False,
        "modificationMetadata": {
            "archivable": not prop.read_only,
            "readOnlyDefinition": True,
            "readOnlyValue": prop.read_only,
        },
        "formField": prop.form_field,
        "archived": False,
        **prop.extra,
    }


def standard_definitions() -> dict[str, dict[str, Any]]:
    return {p.name: definition(p, i) for i, p in enumerate(STANDARD)}
