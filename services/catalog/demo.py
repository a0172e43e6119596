"""The demo catalog `make up` loads into an empty catalog: real Chinese industrial belts (产业带) and
their specialities, a few hundred SKUs across categories, listed on both lines, some factory-direct
(厂直优品), some with a PLUS price, pingou listings with group rules. Deterministic: the same every time."""

from __future__ import annotations

import itertools
import random

import asyncpg

from libs.core import BusinessLine
from libs.database import create_pool, schema_name
from libs.logs import get_logger
from services.catalog.domain.model import GroupRule, Prices, Product, Sku
from services.catalog.service_layer import inventory, products
from services.catalog.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)

CATEGORIES = [
    ("apparel", "服饰", None),
    ("hanfu", "汉服", "apparel"),
    ("kids-wear", "童装", "apparel"),
    ("shoes", "鞋靴", None),
    ("home-textile", "家居家纺", None),
    ("kitchen", "厨具餐具", None),
    ("daily", "日用百货", None),
    ("fresh", "生鲜水果", None),
    ("grain-oil", "粮油调味", None),
    ("bags", "箱包", None),
    ("outdoor", "运动户外", None),
    ("jewelry", "珠宝饰品", None),
]

# belt id, name, province, city, speciality, category, [(product, price in yuan, variant axes)]
BELTS: list[tuple[str, str, str, str, str, str, list[tuple[str, int, list[list[str]]]]]] = [
    (
        "caoxian-hanfu",
        "曹县汉服",
        "山东",
        "菏泽",
        "汉服、演出服",
        "hanfu",
        [
            ("汉服披风", 159, [["月白", "绛红", "黛青"], ["M", "L"]]),
            ("明制马面裙", 189, [["墨绿", "朱红", "藏蓝"], ["S", "M", "L"]]),
            ("宋制褙子套装", 239, [["月白", "藕粉"], ["S", "M", "L"]]),
            ("唐制齐胸襦裙", 169, [["桃粉", "湖蓝", "鹅黄"], ["M", "L"]]),
            ("儿童汉服", 99, [["红色", "粉色"], ["110", "120", "130"]]),
        ],
    ),
    (
        "yiwu-goods",
        "义乌小商品",
        "浙江",
        "金华",
        "日用小商品",
        "daily",
        [
            ("发饰套装", 19, [["珍珠款", "蝴蝶结款", "抓夹款", "发圈款"]]),
            ("收纳盒 三件套", 29, [["白色", "灰色", "透明"], ["小号", "中号"]]),
            ("保鲜袋 加厚", 15, [["100只", "200只", "300只"]]),
            ("晴雨折叠伞", 39, [["黑色", "藏青", "格纹", "碎花"]]),
            ("一次性手套", 12, [["100只", "500只"]]),
        ],
    ),
    (
        "nantong-textile",
        "南通家纺",
        "江苏",
        "南通",
        "床品四件套、被芯",
        "home-textile",
        [
            ("夏凉被", 149, [["格纹", "碎花", "纯色"], ["150x200", "200x230"]]),
            ("纯棉四件套", 299, [["1.5米床", "1.8米床"], ["素色", "条纹", "印花"]]),
            ("蚕丝被", 599, [["春秋被", "冬被"], ["200x230", "220x240"]]),
            ("乳胶枕", 129, [["标准款", "护颈款"]]),
            ("珊瑚绒毛毯", 89, [["灰色", "米色", "粉色"], ["150x200", "200x230"]]),
        ],
    ),
    (
        "yongkang-hardware",
        "永康五金",
        "浙江",
        "金华",
        "保温杯、五金工具",
        "kitchen",
        [
            ("316不锈钢保温杯", 79, [["500ml", "750ml"], ["黑色", "白色", "蓝色"]]),
            ("电动螺丝刀套装", 159, [["标准版", "专业版"]]),
            ("不锈钢炒锅", 199, [["30cm", "32cm", "34cm"]]),
            ("焖烧壶", 99, [["800ml", "1000ml"], ["奶白", "墨绿"]]),
        ],
    ),
    (
        "dehua-ceramics",
        "德化陶瓷",
        "福建",
        "泉州",
        "白瓷、茶具",
        "kitchen",
        [
            ("白瓷功夫茶具", 168, [["十头", "十二头"], ["羊脂玉白", "青花"]]),
            ("陶瓷餐具套装", 239, [["4人份", "6人份"], ["釉下彩", "纯白"]]),
            ("马克杯", 39, [["300ml", "400ml"], ["白色", "哑光黑", "雾霾蓝"]]),
        ],
    ),
    (
        "jinjiang-shoes",
        "晋江运动鞋",
        "福建",
        "泉州",
        "运动鞋服",
        "shoes",
        [
            ("缓震篮球鞋", 249, [["黑红", "白蓝", "全白"], ["40", "41", "42", "43", "44"]]),
            ("轻便跑步鞋", 199, [["黑白", "全黑", "灰蓝"], ["39", "40", "41", "42", "43"]]),
            ("休闲板鞋", 149, [["白色", "米色"], ["38", "39", "40", "41", "42"]]),
            ("儿童运动鞋", 119, [["粉色", "蓝色"], ["28", "30", "32", "34"]]),
        ],
    ),
    (
        "dangshan-pear",
        "砀山酥梨",
        "安徽",
        "宿州",
        "酥梨、梨膏",
        "fresh",
        [
            ("砀山酥梨 新鲜现摘", 39, [["5斤装", "9斤装"], ["中果", "大果"]]),
            ("秋梨膏", 49, [["150g", "300g"]]),
        ],
    ),
    (
        "wuchang-rice",
        "五常大米",
        "黑龙江",
        "哈尔滨",
        "稻花香大米",
        "grain-oil",
        [
            ("五常稻花香大米", 89, [["5kg", "10kg"], ["当季新米", "真空装"]]),
            ("五常胚芽米", 69, [["2.5kg", "5kg"]]),
        ],
    ),
    (
        "pixian-douban",
        "郫县豆瓣",
        "四川",
        "成都",
        "豆瓣酱、川味调料",
        "grain-oil",
        [
            ("三年陈郫县豆瓣", 29, [["500g", "1kg"], ["红油", "原味"]]),
            ("火锅底料", 25, [["微辣", "中辣", "特辣"], ["单袋", "3袋装"]]),
        ],
    ),
    (
        "yangchenghu-crab",
        "阳澄湖大闸蟹",
        "江苏",
        "苏州",
        "大闸蟹",
        "fresh",
        [
            ("阳澄湖大闸蟹 礼盒", 398, [["公3.5两母2.5两", "公4两母3两"], ["4对", "5对"]]),
            ("大闸蟹 现货", 198, [["8只装", "10只装"]]),
        ],
    ),
    (
        "pingxiang-bikes",
        "平乡自行车",
        "河北",
        "邢台",
        "自行车、童车",
        "outdoor",
        [
            ("儿童平衡车", 159, [["红色", "蓝色", "粉色"], ["12寸", "14寸"]]),
            ("山地自行车", 699, [["24寸", "26寸"], ["21速", "27速"]]),
            ("儿童三轮车", 199, [["红色", "蓝色"], ["基础款", "带推杆"]]),
        ],
    ),
    (
        "baigou-bags",
        "白沟箱包",
        "河北",
        "保定",
        "箱包皮具",
        "bags",
        [
            ("斜挎包", 69, [["黑色", "棕色", "卡其"], ["小号", "中号"]]),
            ("双肩电脑包", 129, [["黑色", "灰色"], ["14寸", "15.6寸"]]),
            ("拉杆行李箱", 299, [["20寸", "24寸", "28寸"], ["银色", "黑色", "玫瑰金"]]),
            ("帆布托特包", 49, [["米白", "黑色", "卡其"]]),
        ],
    ),
    (
        "donghai-crystal",
        "东海水晶",
        "江苏",
        "连云港",
        "水晶饰品",
        "jewelry",
        [
            ("天然白水晶手串", 89, [["8mm", "10mm", "12mm"]]),
            ("紫水晶吊坠", 159, [["小号", "中号"], ["银链", "红绳"]]),
        ],
    ),
    (
        "zhili-kidswear",
        "织里童装",
        "浙江",
        "湖州",
        "童装",
        "kids-wear",
        [
            ("儿童连帽卫衣", 89, [["灰色", "藏青", "粉色"], ["110", "120", "130", "140", "150"]]),
            ("儿童纯棉T恤", 59, [["白色", "黄色", "蓝色"], ["100", "110", "120", "130", "140"]]),
            ("儿童羽绒服", 259, [["红色", "黑色"], ["110", "120", "130", "140"]]),
            ("婴儿连体衣", 79, [["粉色", "蓝色"], ["59", "66", "73", "80"]]),
        ],
    ),
    (
        "gannan-orange",
        "赣南脐橙",
        "江西",
        "赣州",
        "脐橙",
        "fresh",
        [
            ("赣南脐橙 当季鲜果", 49, [["5斤装", "10斤装"], ["中果", "大果", "特大果"]]),
        ],
    ),
    (
        "shouguang-vegetables",
        "寿光蔬菜",
        "山东",
        "潍坊",
        "设施蔬菜",
        "fresh",
        [
            ("寿光彩椒", 29, [["3斤装", "5斤装"], ["红黄混装", "纯红"]]),
            ("寿光樱桃番茄", 35, [["3斤装", "5斤装"]]),
        ],
    ),
    (
        "zhenping-jade",
        "镇平玉雕",
        "河南",
        "南阳",
        "玉雕、玉饰",
        "jewelry",
        [
            ("独山玉手镯", 399, [["54mm", "56mm", "58mm", "60mm"]]),
            ("玉石吊坠", 199, [["平安扣", "貔貅", "观音"], ["红绳", "银链"]]),
        ],
    ),
    (
        "chaozhou-ceramics",
        "潮州陶瓷",
        "广东",
        "潮州",
        "日用陶瓷、卫浴",
        "kitchen",
        [
            ("釉下彩餐具", 199, [["4人份", "6人份", "10人份"], ["青花", "粉彩"]]),
            ("陶瓷台上盆", 259, [["50cm", "60cm"], ["白色", "哑光灰"]]),
        ],
    ),
]


def _demo_products(rng: random.Random) -> list[Product]:
    made = []
    for belt_id, _, _, _, _, category, items in BELTS:
        for index, (title, _, axes) in enumerate(items):
            product_id = f"spu-{belt_id}-{index + 1}"
            merchant = f"m-{belt_id}-factory" if index % 2 == 0 else f"m-{belt_id}-trade"
            skus = tuple(
                Sku(
                    f"sku-{belt_id}-{index + 1}-{number + 1}",
                    product_id,
                    " / ".join(values),
                    dict(zip(("规格", "尺码")[: len(values)], values, strict=True)),
                )
                for number, values in enumerate(itertools.product(*axes))
            )
            made.append(
                Product(
                    product_id=product_id,
                    merchant_id=merchant,
                    category_id=category,
                    belt_id=belt_id,
                    factory_direct=merchant.endswith("factory"),
                    title=title,
                    description=f"{title} 产地直发",
                    image_urls=(f"https://img.pingou.example/{product_id}/main.jpg",),
                    attributes={"产地": belt_id},
                    skus=skus,
                )
            )
    return made


def variant_scale(first_axis: list[str], value: str) -> float:
    """Bigger packs and sizes cost more ("10kg" over "5kg", "28寸" over "20寸"); colours cost the same."""
    if not all(any(character.isdigit() for character in option) for option in first_axis):
        return 1.0
    return 1.0 + 0.6 * first_axis.index(value)


def _prices(rng: random.Random, base_yuan: int) -> tuple[Prices, Prices]:
    price = base_yuan * 100 + rng.choice((0, 0, -10, 90))
    plus = price - max(100, price // 20) if rng.random() < 0.35 else None
    solo = price - price // 30
    group = (price * 82 // 100) // 10 * 10
    leader_free = rng.random() < 0.05
    leader = None if leader_free or rng.random() > 0.25 else (group * 9 // 10) // 10 * 10
    rule = GroupRule(
        size=rng.choice((2, 2, 3, 3, 5)),
        window_minutes=24 * 60,
        per_user_limit=rng.choice((0, 0, 1, 2)),
        new_user_only=rng.random() < 0.1,
        plus_only=rng.random() < 0.05,
        strangers_can_join=rng.random() > 0.1,
        auto_match=rng.random() > 0.2,
        leader_free=leader_free,
    )
    return Prices(price, plus_price_minor=plus), Prices(
        solo, group_price_minor=group, leader_price_minor=leader, group_rule=rule
    )


async def seed_if_empty(dsn: str, *, topic_prefix: str = "") -> int:
    """Load the demo catalog unless products exist already; returns the number of SKUs loaded. Its
    listing and stock events go to the same topics as the service's own (`topic_prefix`)."""
    pools = {
        line: await create_pool(dsn, schema=schema_name("catalog", line), application_name="catalog-seed")
        for line in BusinessLine
    }
    try:
        async with pools[BusinessLine.MALL].acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext('catalog.seed'))")
            if await connection.fetchval("SELECT count(*) FROM catalog.products"):
                return 0
            await _reference_data(connection)
        rng = random.Random(618)
        demo = _demo_products(rng)
        base = {f"spu-{belt[0]}-{i + 1}": item for belt in BELTS for i, item in enumerate(belt[6])}
        async with UnitOfWork(pools[BusinessLine.MALL], BusinessLine.MALL, topic_prefix=topic_prefix) as uow:
            for product in demo:
                await products.create_product(uow, product)
        for product in demo:
            for sku in product.skus:
                _, base_yuan, axes = base[product.product_id]
                mall, pingou = _prices(rng, round(base_yuan * variant_scale(axes[0], sku.title.split(" / ")[0])))
                for line, prices in ((BusinessLine.MALL, mall), (BusinessLine.PINGOU, pingou)):
                    async with UnitOfWork(pools[line], line, topic_prefix=topic_prefix) as uow:
                        await products.upsert_listing(uow, sku_id=sku.sku_id, prices=prices)
                        await inventory.set_stock(uow, sku_id=sku.sku_id, available=rng.randrange(200, 3000))
        count = sum(len(product.skus) for product in demo)
        log.info("demo_catalog_loaded", products=len(demo), skus=count, belts=len(BELTS))
        return count
    finally:
        for pool in pools.values():
            await pool.close()


async def _reference_data(connection: asyncpg.Connection) -> None:
    await connection.executemany(
        "INSERT INTO catalog.categories (category_id, name, parent_id) VALUES ($1, $2, $3)", CATEGORIES
    )
    await connection.executemany(
        "INSERT INTO catalog.belts (belt_id, name, province, city, speciality) VALUES ($1, $2, $3, $4, $5)",
        [belt[:5] for belt in BELTS],
    )
    await connection.executemany(
        "INSERT INTO catalog.merchants (merchant_id, name, belt_id, factory_direct) VALUES ($1, $2, $3, $4)",
        [
            row
            for belt in BELTS
            for row in (
                (f"m-{belt[0]}-factory", f"{belt[1]}源头工厂", belt[0], True),
                (f"m-{belt[0]}-trade", f"{belt[1]}优选商行", belt[0], False),
            )
        ],
    )
