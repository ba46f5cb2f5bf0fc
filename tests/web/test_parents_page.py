"""The parents' page in a real headless Chromium (Debian's, driven by Playwright) against a real node on loopback, on a
390 x 844 phone and on a desktop: nothing is editable before sign-in; the password stays in the tab's sessionStorage
(no cookie) across a reload; the household's speakers are picked by name and named on the page; rules are set with
switches, chips and the weekly bedtime grid, and a scripted device then meets them; the change log reads as
sentences; errors are said for a parent. The README's screenshots come from the demo household here."""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.device_client import DeviceClient
from core.devices import policy as rules
from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState, Play
from core.lang.replies import say
from tests.conftest import ws_url
from tests.web.chromium import DESKTOP, PHONE, have_chromium, shot
from tests.web.test_console import OP, PARENT, call, web_config

pytestmark = pytest.mark.timeout(240)
if not have_chromium():
    pytest.skip("Chromium is not installed (make test installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("playwright.async_api")

ASHA, KITCHEN, RAVI = "aa:bb:cc:00:00:91", "aa:bb:cc:00:00:92", "aa:bb:cc:00:00:93"
SCREENS = {"phone": PHONE, "desktop": DESKTOP}
EVIL = '<img src=x onerror="window.__xss=1">'


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


async def text(page: Any, selector: str) -> str:
    return (await page.text_content(selector)) or ""


async def sign_in(page: Any, node: Any, me: str = "Mum", password: str = PARENT) -> None:
    await page.goto(f"http://127.0.0.1:{node.http_port}/parents")
    await page.fill("#token", password)
    await page.fill("#me", me)
    await page.click("#login button[type=submit]")


async def usable_controls(page: Any) -> list[str]:
    """The ids (or types) of the form controls a person can see and reach."""
    return list(await page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((n) => n.getClientRects().length > 0).map((n) => n.id || n.type)"""))


async def fits_the_screen(page: Any) -> bool:
    """Nothing sticks out sideways: no scrolling, and every element ends within its card, and the card on screen."""
    return bool(await page.evaluate("""() => document.documentElement.scrollWidth <= window.innerWidth &&
        [...document.querySelectorAll('main section *')].every((n) => n.getBoundingClientRect().right
          <= Math.min(window.innerWidth, n.closest('section').getBoundingClientRect().right))"""))


async def set_range(page: Any, selector: str, value: int) -> None:
    await page.eval_on_selector(selector, "(n, v) => { n.value = String(v); n.dispatchEvent(new Event('input')); }",
                                value)


async def first_change(page: Any, starts: str) -> str:
    await page.wait_for_function("(s) => (document.querySelector('#changes li')?.textContent || '').startsWith(s)",
                                 arg=starts)
    return await text(page, "#changes li")


def hhmm(minutes: int) -> str:
    return f"{(minutes % 1440) // 60:02d}:{minutes % 60:02d}"


@pytest.mark.parametrize("screen", ["phone", "desktop"])
async def test_a_parent_signs_in_names_a_speaker_and_sets_its_rules(screen, make_config, start_node, browser,
                                                                    tmp_path) -> None:
    node = await start_node(web_config(make_config))
    assert (await call(node, "PUT", f"/api/devices/{KITCHEN}/name", {"name": "Kitchen", "by": "Dad"}))[0] == 200
    async with DeviceClient(ws_url(node), device_id=ASHA) as child:
        await child.send_text_request("play twinkle twinkle little star")          # 1.8 s, to the end
        await child.wait_json("tts", "stop", timeout=15)

        async def played() -> bool:
            history = (await call(node, "GET", f"/api/devices/{ASHA}/history"))[1]["history"]
            return bool(history) and history[0]["finished"]
        await eventually(played)

        page = await browser(screen=SCREENS[screen])
        await page.goto(f"http://127.0.0.1:{node.http_port}/parents")
        assert await usable_controls(page) == ["token", "me", "submit"]          # nothing else before sign-in
        assert await page.locator("#week *, #devices *").count() == 0
        await sign_in(page, node)
        await page.wait_for_selector(f'#devices [data-device="{ASHA}"]')
        names = await page.locator("#devices .name").all_text_contents()
        assert names == ["Kitchen", "Unnamed speaker"]                           # named first, no id to type
        assert "Pick a speaker" in await text(page, "#household-status")

        # The unnamed speaker: the page offers to name it first
        await page.click(f'#devices [data-device="{ASHA}"]')
        await page.wait_for_selector("#rename:not([hidden])")
        assert "Give this speaker a name" in await text(page, "#rename-status")
        assert "Twinkle Twinkle Little Star" in await text(page, "#diary")
        assert "Today" in await text(page, "#diary") and "listened to the end" in await text(page, "#diary")
        await page.fill("#name", "Asha's room")
        await page.click("#rename button[type=submit]")
        await page.wait_for_function("() => document.getElementById('device-title').textContent === \"Asha's room\"")
        assert (await first_change(page, "Mum named")).startswith("Mum named this speaker “Asha's room”, today ")
        assert await page.locator("#devices .name").all_text_contents() == ["Asha's room", "Kitchen"]

        # Quiet time around now every night (the copy button), the bedtime chip, the volume switch and slider
        t = time.gmtime()
        now = t.tm_hour * 60 + t.tm_min
        start, end = hhmm(now - 60), hhmm(now + 60)
        await page.check("#bed-mon-on")
        await page.fill("#bed-mon-start", start)
        await page.fill("#bed-mon-end", end)
        await page.click("#bed-copy")
        assert all([await page.is_checked(f"#bed-{d}-on") for d in rules.WEEKDAYS])
        assert await page.input_value("#bed-sun-end") == end
        bar = await page.eval_on_selector("#bed-wed-bar span", "(n) => n.getBoundingClientRect().width")
        strip = await page.eval_on_selector("#bed-wed-bar", "(n) => n.getBoundingClientRect().width")
        assert abs(bar / strip - 120 / 1440) < 0.02                          # two hours of the day, drawn
        await page.click('#sleep label.chip:has-text("Bedtime")')
        assert await page.is_disabled("#maxvol")
        await page.check("#maxvol-on")
        await set_range(page, "#maxvol", 70)
        assert await text(page, "#maxvol-out") == "70"
        await page.check("#limit-on")
        await page.fill("#limit", "45")
        await page.click("#save")
        await page.wait_for_function("() => document.getElementById('save-status').textContent.startsWith('Saved.')")
        assert "The speaker has them now" in await text(page, "#save-status")       # it is connected
        said = await first_change(page, "Mum set quiet time")
        assert said.startswith(f"Mum set quiet time {start}–{end} every night, allowed “Bedtime” at bedtime, set a "
                               "daily limit of 45 min and set a volume cap of 70, today ")
        assert "{" not in await text(page, "#changes")                            # words, not JSON
        policy = (await call(node, "GET", f"/api/devices/{ASHA}/policy"))[1]
        assert policy["policy"]["max_volume"] == 70 and policy["policy"]["sleep_collections"] == ["Bedtime"]
        assert policy["name"] == "Asha's room" and policy["audit"][0]["by"] == "Mum"

        # The child meets the rules the page set
        await child.send_text_request("play baa baa black sheep")
        line = await child.wait_json("tts", "sentence_start", timeout=15)
        assert line["text"] == say(rules.quiet_reply(rules.parse(policy["policy"]), time.time()), "en")

        # A bad value: the night is named in words
        await page.fill("#bed-sun-end", start)
        await page.click("#save")
        await page.wait_for_function(
            "() => document.getElementById('save-status').textContent === 'Sunday: start and end are the same time'")
        await page.fill("#bed-sun-end", end)

        # Lowered: one sentence with the old and new values
        await set_range(page, "#maxvol", 60)
        await page.click("#save")
        assert (await first_change(page, "Mum lowered")).startswith("Mum lowered the volume cap 70 → 60, today ")

        # Meanwhile the operator changes the rules: this page's next save is refused and shows what stands now
        week = {d: {"start": start, "end": end} for d in rules.WEEKDAYS}
        status, _, _ = await call(node, "PUT", f"/api/devices/{ASHA}/policy",
                                  {"bedtime": week, "max_volume": 65, "sleep_collections": ["Bedtime"]}, token=OP)
        assert status == 200
        await page.uncheck("#limit-on")
        await page.click("#save")
        await page.wait_for_function(
            "() => document.getElementById('save-status').textContent.includes('changed these rules meanwhile')")
        await page.wait_for_function("() => document.getElementById('maxvol-out').textContent === '65'")
        assert (await first_change(page, "The operator")).startswith(
            "The operator removed the daily limit (was 45 min) and raised the volume cap 60 → 65, today ")
        assert await fits_the_screen(page)

        # Signed in once: a reload keeps the tab signed in and on the same speaker; no cookie, nothing kept for good
        await page.reload()
        await page.wait_for_function("() => document.getElementById('device-title').textContent === \"Asha's room\"")
        assert "quiet time now" in await text(page, "#today")
        assert await page.is_hidden("#signin")
        assert await page.context.cookies() == []
        assert await page.evaluate("() => sessionStorage.getItem('xz-console-token')") == PARENT
        assert PARENT not in await page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))")
        await page.click("#signout")
        await page.wait_for_selector("#signin:not([hidden])")
        assert await page.is_hidden("#rules-card") and await page.is_hidden("#household")
        assert await page.evaluate("() => sessionStorage.getItem('xz-console-token')") is None
        assert await usable_controls(page) == ["token", "me", "submit"]


async def test_refusals_are_said_for_a_parent_and_names_are_text(make_config, start_node, browser) -> None:
    closed = await start_node(make_config(web={"enabled": True}))             # no parents' password set
    page = await browser(screen=PHONE)
    await sign_in(page, closed, password="whatever-the-box-said")
    await page.wait_for_function("() => document.getElementById('login-status').className === 'err'")
    said = await text(page, "#login-status")
    assert "not switched on" in said and "Ask whoever runs it" in said and "PARENT_TOKEN" in said
    assert "OPERATOR_TOKEN" not in said and "fleet." not in said                   # not the admin's message
    assert await page.is_hidden("#household")

    node = await start_node(web_config(make_config, parent_devices=[ASHA, KITCHEN]))
    await call(node, "PUT", f"/api/devices/{KITCHEN}/name", {"name": EVIL, "by": EVIL})
    await sign_in(page, node, password="not-the-password-at-all")
    await page.wait_for_function("() => document.getElementById('login-status').textContent.includes('not accepted')")
    assert await page.evaluate("() => sessionStorage.getItem('xz-console-token')") is None
    assert await usable_controls(page) == ["token", "me", "submit"]
    await sign_in(page, node)
    await page.wait_for_selector(f'#devices [data-device="{KITCHEN}"]')
    await page.click(f'#devices [data-device="{KITCHEN}"]')
    await page.wait_for_selector("#changes li")
    assert await text(page, "#device-title") == EVIL                       # the markup as text
    assert (await text(page, "#changes li")).startswith(f"{EVIL} named this speaker “{EVIL}”")
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("() => window.__xss === undefined")


# ---------------------------------------------------------------------------------------------- the demo household

def household_zone() -> tuple[str, int]:
    """A whole-hour time zone where it is 17:xx now: the demo household is before bedtime whenever the test runs."""
    shift = (17 - time.gmtime().tm_hour) % 24
    shift = shift - 24 if shift > 12 else shift
    return ("UTC" if shift == 0 else f"Etc/GMT{'-' if shift > 0 else '+'}{abs(shift)}"), shift * 60


def played(node: Any, title: str, ago_h: float, position_s: float, finished: bool, now: float) -> Play:
    track = next(t for t in node.tracks() if t.title == title)
    return Play(track.uid, track.kind.value, track.title, now - ago_h * 3600, int(position_s * 1000), finished)


async def change_in_the_past(node: Any, device_id: str, ago_days: float, by: str, name: str | None = None,
                             **values: Any) -> None:
    """A rules change as the policy API records it, dated `ago_days` back (the store's own compare-and-set)."""
    def change(current: PolicyRecord) -> PolicyRecord:
        old = current.rules or rules.to_dict(rules.Policy())
        new = rules.to_dict(rules.parse({**old, **values})) if values else dict(old)
        diff: dict[str, Any] = {k: [old[k], new[k]] for k in rules.RULE_KEYS if old[k] != new[k]}
        if name is not None:
            diff["name"] = [current.name, name]
        entry = {"at": time.time() - ago_days * 86400, "who": "parent", "from": "192.168.1.20", "by": by,
                 "changes": diff}
        return PolicyRecord(current.rev + 1, new, (entry, *current.audit), current.name if name is None else name)
    await node.store.update_policy(device_id, change)


async def demo_household(node: Any, offset_min: int) -> None:
    """Three named speakers, a week of bedtimes, a few days of listening and of changes."""
    now = time.time()
    local = rules.Policy(utc_offset_min=offset_min)
    week = {d: {"start": "19:30", "end": "07:00"} for d in ("sun", "mon", "tue", "wed", "thu")}
    week |= {"fri": {"start": "20:30", "end": "08:00"}, "sat": {"start": "20:30", "end": "08:00"}}
    await change_in_the_past(node, ASHA, 6, "Dad", name="Asha's room")
    await change_in_the_past(node, ASHA, 6, "Dad", bedtime=week, sleep_collections=["Bedtime"],
                             utc_offset_min=offset_min)
    await change_in_the_past(node, ASHA, 3, "Mum", max_volume=80, daily_limit_min=90)
    await change_in_the_past(node, ASHA, 1.2, "Dad", sleep_timer_min=30, blocked_tags=["energetic"])
    await change_in_the_past(node, KITCHEN, 5, "Mum", name="Kitchen")
    await change_in_the_past(node, RAVI, 4, "Dad", name="Ravi's room")
    await change_in_the_past(node, RAVI, 4, "Dad", bedtime=week, utc_offset_min=offset_min)
    asha = (played(node, "The Water Cycle", 0.6, 38, True, now),
            played(node, "Twinkle Twinkle Little Star", 1.1, 19, True, now),
            played(node, "The Sleepy Moon", 21.8, 15, True, now),
            played(node, "Twinkle Twinkle Little Star", 22.0, 20, True, now),
            played(node, "The Wheels on the Bus", 23.0, 42, False, now),
            played(node, "The Little Dragon", 46.5, 21, True, now),
            played(node, "Baa Baa Black Sheep", 47.0, 18, True, now))
    await node.store.save(DeviceState(ASHA, history=asha, favourites=(asha[2].uid, asha[1].uid),
                                      listened_day=rules.day_key(local, now), listened_s=35 * 60,
                                      updated_at=now - 3600))
    await node.store.save(DeviceState(KITCHEN, history=(played(node, "Jack and Jill", 3.0, 20, True, now),),
                                      updated_at=now - 3 * 3600))
    await node.store.save(DeviceState(RAVI, history=(played(node, "The Little Dragon", 22.5, 21, True, now),),
                                      updated_at=now - 22 * 3600))


async def test_the_demo_household_on_a_desktop_and_a_phone(make_config, start_node, browser, demo_dir,
                                                           tmp_path) -> None:
    zone, offset = household_zone()
    node = await start_node(make_config(content={"content_dir": str(demo_dir)}, fleet={"operator_token": OP},
                                        web={"enabled": True, "parent_token": PARENT,
                                             "parent_devices": [ASHA, KITCHEN, RAVI]}))
    await demo_household(node, offset)
    async with DeviceClient(ws_url(node), device_id=ASHA):                   # Asha's speaker is switched on
        desk = await browser(screen=DESKTOP, timezone=zone)
        await sign_in(desk, node)
        await desk.wait_for_selector(f'#devices [data-device="{RAVI}"]')
        assert await desk.locator("#devices .name").all_text_contents() == ["Asha's room", "Kitchen", "Ravi's room"]
        await desk.click(f'#devices [data-device="{ASHA}"]')
        await desk.wait_for_selector("#changes li")
        # Mum lowers the volume cap on the page
        await set_range(desk, "#maxvol", 70)
        await desk.click("#save")
        await desk.wait_for_function("() => document.getElementById('save-status').textContent.startsWith('Saved.')")
        lowered = await first_change(desk, "Mum lowered")
        assert re.fullmatch(r"Mum lowered the volume cap 80 → 70, today 1[78]:\d\d", lowered), lowered
        log = await desk.locator("#changes li").all_text_contents()
        assert len(log) == 5 and not any("{" in line or "[" in line for line in log)
        assert log[-1].startswith("Dad named this speaker “Asha's room”")
        assert any(line.startswith("Dad set quiet time 19:30–07:00 on Mon–Thu and Sun") for line in log)
        diary = await text(desk, "#diary")
        assert diary.index("Today") < diary.index("Yesterday") and "stopped after 0:42" in diary
        today = await text(desk, "#today")
        assert today.startswith("Listened today: 35 min of 90 · quiet time from ") and "switched on" in today
        assert await desk.locator(".err:not(:empty)").count() == 0              # no error anywhere
        await desk.mouse.move(0, 0)
        await shot(desk, "parents.png", tmp_path)

        phone = await browser(screen=PHONE, timezone=zone)
        await sign_in(phone, node)
        await phone.click(f'#devices [data-device="{ASHA}"]')
        await phone.wait_for_selector("#changes li")
        assert await fits_the_screen(phone)
        assert await phone.locator(".err:not(:empty)").count() == 0
        await shot(phone, "parents-phone.png", tmp_path, full_page=False)
