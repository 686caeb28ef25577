from tests.changeset import changes


def test_chain_applies_and_verifies(db):
    for change in changes():
        db.deploy(change)
        db.verify(change)
