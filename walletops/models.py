# Wallet ops models (API tokens, restart audit) arrive with the containers work.
