from ninja import NinjaAPI

api = NinjaAPI(title="Aftersale API", version="1")
