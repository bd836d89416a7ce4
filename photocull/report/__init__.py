"""What people see: terminal output, the HTML contact sheet, interactive review, explanations."""
