"""Reporting: what a run leaves for people to read and share.

The figures (`plots`), the self-contained `report.html` (`report`), the model card
README (`model_card`) and the upload to the Hugging Face Hub (`hub`). Import the modules
themselves: this package re-exports nothing, so that importing one stage never pulls in
another.
"""
