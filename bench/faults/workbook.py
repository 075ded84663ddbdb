"""The Excel files the run imports: ``rows`` new parts with SKUs under one prefix (so the run can
count, after the fault, exactly how many of them reached the database)."""
import io


def parts_workbook(prefix, rows, category):
    """An .xlsx of ``rows`` parts, headed by the import's field names (the import maps them back)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("parts")
    ws.append(["sku", "name", "product_category", "unit_price", "is_common", "warranty_days"])
    for i in range(1, rows + 1):
        ws.append([f"{prefix}-{i:05d}", f"故障演练配件 {i}", category, f"{(i % 500) + 10}.50", "no", 90])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
