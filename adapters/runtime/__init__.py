"""The running service: the application (append + fold), workers, scheduler, monitors."""
