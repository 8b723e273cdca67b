"""etl/source"""
