"""ludwig-hub-export."""
