"""etl/state"""
