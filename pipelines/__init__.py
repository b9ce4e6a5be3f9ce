"""Stages of the data flow: generate -> score -> bronze -> silver -> gold."""
