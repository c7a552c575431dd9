"""The four-part story as the renditions tell it: which part each rendition shows, and where.

``marks`` finds the story's blocks in the rendered text; ``told`` says, per rendition, which part is
missing, so the consistency proof can name the channel, locale and part before anything is sent.
"""
