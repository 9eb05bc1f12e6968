from django.apps import AppConfig


class BiddingConfig(AppConfig):
    name = "bidding"
