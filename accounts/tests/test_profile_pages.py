import pytest

from accounts.models import Follow


@pytest.mark.django_db
def test_profile_page_shows_counts_and_follow_button(client, alice, carol, followers_of):
    followers_of(alice, 2)
    client.force_login(carol)
    page = client.get("/u/alice/").content.decode()
    assert "Alice Streams" in page and "<strong>2</strong> followers" in page
    assert 'action="/u/alice/follow/"' in page


@pytest.mark.django_db
def test_unknown_profile_is_404(client):
    assert client.get("/u/nobody/").status_code == 404


@pytest.mark.django_db
def test_follow_without_javascript_redirects_back_with_message(client, alice, carol):
    client.force_login(carol)
    response = client.post("/u/alice/follow/", {"next": "/u/alice/"}, follow=True)
    assert response.redirect_chain == [("/u/alice/", 302)]
    assert "You follow Alice Streams now." in response.content.decode()
    assert Follow.objects.filter(follower=carol, followee=alice).exists()
    # twice is fine
    client.post("/u/alice/follow/")
    assert Follow.objects.filter(follower=carol, followee=alice).count() == 1

    client.post("/u/alice/unfollow/")
    client.post("/u/alice/unfollow/")
    assert not Follow.objects.exists()


@pytest.mark.django_db
def test_follow_refuses_offsite_next(client, alice, carol):
    client.force_login(carol)
    response = client.post("/u/alice/follow/", {"next": "https://evil.example/"})
    assert response["Location"] == "/u/alice/"


@pytest.mark.django_db
def test_follow_with_htmx_swaps_the_button(client, alice, carol):
    client.force_login(carol)
    response = client.post("/u/alice/follow/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div class="follow-box" id="follow-alice">')
    assert "Following ✓" in html
    count = '<span id="followers-alice" class="follower-count" hx-swap-oob="true"><strong>1</strong> follower'
    assert count in html


@pytest.mark.django_db
def test_self_follow_from_page_shows_the_reason(client, alice):
    client.force_login(alice)
    response = client.post("/u/alice/follow/", follow=True)
    assert "You can&#x27;t follow yourself." in response.content.decode()
    response = client.post("/u/alice/follow/", headers={"HX-Request": "true"})
    assert response.status_code == 400 and "You can&#x27;t follow yourself." in response.content.decode()


@pytest.mark.django_db
def test_anonymous_follow_goes_to_login(client, alice):
    response = client.post("/u/alice/follow/")
    assert response["Location"].startswith("/accounts/login/?next=/u/alice/")


@pytest.mark.django_db
def test_follower_pages_paginate_with_constant_queries(
    client, alice, followers_of, django_assert_max_num_queries
):
    followers_of(alice, 35)
    with django_assert_max_num_queries(4) as small:
        first = client.get("/u/alice/followers/")
    followers_of(alice, 40)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get("/u/alice/followers/?page=2")
    assert "Page 1 of 2" in first.content.decode()


@pytest.mark.django_db
def test_profile_edit_saves_and_rejects_long_bio(client, alice):
    client.force_login(alice)
    response = client.post(
        "/settings/profile/", {"display_name": "A", "bio": "x" * 501, "email_notifications": "on"}
    )
    assert response.status_code == 200
    assert "Ensure this value has at most 500 characters" in response.content.decode()
    alice.refresh_from_db()
    assert alice.display_name == "Alice Streams"

    response = client.post(
        "/settings/profile/", {"display_name": "Alice Live", "bio": "<b>hi</b>"}, follow=True
    )
    assert "Your profile is saved." in response.content.decode()
    assert "&lt;b&gt;hi&lt;/b&gt;" in response.content.decode()  # rendered as text
    alice.refresh_from_db()
    assert alice.display_name == "Alice Live" and alice.email_notifications is False


@pytest.mark.django_db
def test_dashboard_shows_eligibility_progress(client, alice, followers_of):
    followers_of(alice, 45)
    client.force_login(alice)
    page = client.get("/dashboard/").content.decode()
    assert "You need 50 followers to go live; you have 45." in page
    assert 'aria-valuenow="45"' in page


@pytest.mark.django_db
def test_home_and_following_pages(client, alice, carol, django_assert_max_num_queries):
    Follow.objects.create(follower=carol, followee=alice)
    with django_assert_max_num_queries(3):
        home = client.get("/")
    assert home.status_code == 200 and "Alice Streams" in home.content.decode()
    client.force_login(carol)
    following = client.get("/following/").content.decode()
    assert "@alice" in following
