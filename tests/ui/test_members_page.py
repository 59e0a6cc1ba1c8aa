"""The members page in the browser: an admin adds a user to a project and removes one."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from tasks.models import Membership
from tests.conftest import PASSWORD, make_project, make_user
from tests.ui.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def member_names(project) -> set[str]:
    return set(Membership.objects.filter(project=project).values_list("user__username", flat=True))


def test_admin_adds_and_removes_a_member(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    bob = make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [ann])
    login(page, live_server.url, admin.username)

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Members").click()
    # Waits for "load": the module script is in, so the form no longer submits natively.
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/members/")
    expect(page.locator("tr.member")).to_have_count(2)

    page.select_option("#member-user", str(bob.pk))
    page.click("#add-member button[type=submit]")
    expect(page.locator(f'tr.member[data-user="{bob.pk}"]')).to_contain_text("annotator")
    assert member_names(project) == {"alice", "ann", "bob"}

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f'button.remove-member[data-user="{ann.pk}"]')
    expect(page.locator(f'tr.member[data-user="{ann.pk}"]')).to_have_count(0)
    assert member_names(project) == {"alice", "bob"}
    # Bob is no longer offered; Ann is again.
    expect(page.locator(f'#member-user option[value="{bob.pk}"]')).to_have_count(0)
    expect(page.locator(f'#member-user option[value="{ann.pk}"]')).to_have_count(1)


def test_admin_creates_and_deactivates_a_user(page: Page, live_server):
    from accounts.models import User

    admin = make_user("alice", Role.ADMIN)
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/users/")  # returns after "load": the page's script is in

    page.fill("#new-username", "carol")
    page.select_option("#new-role", "reviewer")
    page.fill("#new-password", "a-long-unusual-passphrase-42")
    page.click("#create-user button[type=submit]")
    row = page.locator("tr.user", has_text="carol")
    expect(row).to_contain_text("reviewer")
    carol = User.objects.get(username="carol")
    assert carol.role == Role.REVIEWER and carol.is_active

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Deactivate").click()
    expect(row).to_contain_text("deactivated")
    carol.refresh_from_db()
    assert not carol.is_active


def test_the_server_message_is_shown_when_a_user_cannot_be_created(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/users/")  # returns after "load": the page's script is in

    page.fill("#new-username", "alice")
    page.fill("#new-password", "a-long-unusual-passphrase-42")
    page.click("#create-user button[type=submit]")
    expect(page.locator("#users-error")).to_be_visible()
    expect(page.locator("#users-error")).to_contain_text("exists")


def test_admin_gives_a_user_a_reset_link_and_the_user_sets_a_new_password(page: Page, live_server, browser):
    from accounts.models import User

    admin = make_user("alice", Role.ADMIN)
    make_user("ann", Role.ANNOTATOR)
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/users/")

    page.locator("tr.user", has_text="ann").get_by_role("button", name="Reset password").click()
    expect(page.locator("#reset-dialog")).to_be_visible()
    expect(page.locator("#reset-user")).to_have_text("ann")
    link = page.locator("#reset-link").input_value()
    assert f"{live_server.url}/reset/" in link
    screenshot(page, "users")
    page.click("#reset-close")

    # Ann, in her own browser, opens the link and sets a new password, then logs in with it.
    ann_context = browser.new_context()
    ann_page = ann_context.new_page()
    ann_page.goto(link)
    ann_page.fill("#id_new_password1", "a-long-unusual-passphrase-42")
    ann_page.fill("#id_new_password2", "a-long-unusual-passphrase-42")
    ann_page.get_by_role("button", name="Set password").click()
    expect(ann_page.locator("[role=status]")).to_contain_text("Your new password is set")
    ann_page.get_by_role("link", name="Log in").click()
    ann_page.fill("#id_username", "ann")
    ann_page.fill("#id_password", "a-long-unusual-passphrase-42")
    ann_page.click("button[type=submit]")
    ann_page.wait_for_url(f"{live_server.url}/")
    ann_context.close()
    assert User.objects.get(username="ann").check_password("a-long-unusual-passphrase-42")


def test_a_user_changes_their_own_password_from_the_header(page: Page, live_server):
    from accounts.models import User

    make_user("ann", Role.ANNOTATOR)
    login(page, live_server.url, "ann")
    page.locator("header .who").get_by_role("link", name="ann").click()
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "short")
    page.fill("#id_new_password2", "short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#err-new_password2")).to_contain_text("too short")
    assert User.objects.get(username="ann").check_password(PASSWORD)

    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "a-long-unusual-passphrase-42")
    page.fill("#id_new_password2", "a-long-unusual-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("[role=status]")).to_contain_text("Your password was changed")
    assert User.objects.get(username="ann").check_password("a-long-unusual-passphrase-42")
