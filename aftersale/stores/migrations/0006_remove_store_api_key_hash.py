from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stores", "0005_api_keys_from_stores")]

    operations = [migrations.RemoveField(model_name="store", name="api_key_hash")]
