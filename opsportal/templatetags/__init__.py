"""Template tag libraries of the portal, registered in settings ``TEMPLATES[...]["OPTIONS"]["libraries"]``.

``opsportal`` is not an installed app (its admin config is Django's admin), so Django would not
find these by itself.
"""
